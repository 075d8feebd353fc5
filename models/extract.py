"""Placeholder: extract_workload is not written yet."""


def extract_workload(model, example_input):  # pragma: no cover - replaced by the real one
    raise NotImplementedError
