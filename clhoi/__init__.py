"""clhoi: CL-HOI, human-object interaction detection distilled from vision large language models.

Importing the package is light (no torch); the stages live in their subpackages.
"""

__version__ = "0.1.0"
