NAME = "compile_time"

def run(ctx):
    return []
