"""Networks, the step from any ``torch.nn.Module`` to a ``hwsim.Workload``, and datasets."""

from importlib import import_module

from models.zoo import build, example_input, names, register

# Each module registers its networks in the zoo on import.
ZOO_MODULES: tuple[str, ...] = (
    "digits",
    "cifar",
    "imagenet",
    "bitfusion_nets",
    "transformer_nets",
)
for _m in ZOO_MODULES:
    import_module(f"models.{_m}")

from models.extract import extract_workload  # noqa: E402
from models.llm import llm_phase_costs, llm_workload  # noqa: E402
from models.onnx_import import from_onnx, load_onnx  # noqa: E402  (imports onnx on use only)

__all__ = [
    "build",
    "example_input",
    "extract_workload",
    "from_onnx",
    "llm_phase_costs",
    "llm_workload",
    "load_onnx",
    "names",
    "register",
]
