"""The world the fleet drives through: rendered road scenes and conditions over time."""

from fleetsim.world.conditions import Conditions
from fleetsim.world.render import AnnotatedFrames, render

__all__ = ["AnnotatedFrames", "Conditions", "render"]
