"""`circlebuy evaluate`: run (the command), config, recsys and forecast blocks, intervals, report."""
