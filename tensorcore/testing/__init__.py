"""Testing helpers: ``gradcheck`` compares autograd against central differences."""
from .gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
