"""PyTorch reference networks shared by the parity/importer tests and the benchmarks."""
