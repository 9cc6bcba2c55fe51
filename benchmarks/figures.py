"""What the benchmark scripts share: how a list of measurements is printed."""
import statistics


def spread(values, unit: str = "", fmt: str = ".2f") -> str:
    """``median [min-max]`` of ``values``, each formatted with ``fmt`` and followed by ``unit``."""
    return f"{statistics.median(values):{fmt}}{unit} [{min(values):{fmt}}-{max(values):{fmt}}]"
