"""The shared kernel every layer may import: the data contract, the platform's clock, the error tree,
the home folder's layout and the small storage formats the API and the pipeline both read. It imports
nothing from recsys/, aggregation/, api/ or pipelines/."""
