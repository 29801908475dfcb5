// Value types from Kernels that appear in TensorCore's API (masks, random generators, op names).
@_exported import Kernels
