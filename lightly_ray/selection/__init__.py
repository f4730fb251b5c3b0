"""Selection: inputs, strategies and the greedy engine that combines them.

`inputs.build_problem` turns the config and the run's data into a `problem.SelectionProblem`;
`engine.select` solves it. `sharded` runs farthest-first over Ray actors, `sequences` selects
whole groups of video frames, `diversity.farthest_first` is the plain float64 reference.
"""
