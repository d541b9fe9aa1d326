NAME = "grad_cost"

def run(ctx):
    return []
