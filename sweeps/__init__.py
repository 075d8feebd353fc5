"""Design-space sweeps, Pareto analysis, plots and the ``hwsim`` command line."""
