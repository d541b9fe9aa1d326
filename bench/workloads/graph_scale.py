NAME = "graph_scale"

def run(ctx):
    return []
