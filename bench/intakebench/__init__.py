"""The parts of ``bench/intake.py``, one concern each (bench/README.md: "The parts")."""
