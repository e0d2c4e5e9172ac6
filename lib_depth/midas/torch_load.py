"""Re-export: checkpoint loading lives in the network base (`lib_depth.network_base.torch_load`);
`lib_depth.midas.torch_load.use_loader` (the WebUI floor's) stays importable."""

from ..network_base.torch_load import LoaderSource, load_tensors, use_loader

__all__ = ["LoaderSource", "load_tensors", "use_loader"]
