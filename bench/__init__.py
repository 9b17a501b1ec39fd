"""betpipe benchmarks: ``python -m bench [--quick] [names...]`` prints a table and writes bench/results/*.json."""
