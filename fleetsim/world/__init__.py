"""The world the fleet drives through: rendered road scenes and conditions over time."""

from fleetsim.world.conditions import Conditions
from fleetsim.world.render import FrameBatch, render

__all__ = ["Conditions", "FrameBatch", "render"]
