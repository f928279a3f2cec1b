"""Settings every layer shares. The seed: one default for every seeded choice (samples, splits,
models, bootstraps); the CLI's `--seed` and the nightly's config pass their value down, and a
default anywhere else reads this one."""

DEFAULT_SEED = 7
