"""The network of a scenario as a networkx graph, and the shared resources flows cross.

Nodes: vehicles, access networks (cells of a technology, depot WiFi), backhauls, cloud
regions and roadside MEC servers. Edges carry per-direction capacity, one-way latency, jitter and loss:
vehicle -> access (the vehicle's own radio; its rate is drawn per time slot from the
technology's drive-test spread), access -> backhaul (the cell's shared capacity, the
technology's latency, jitter and loss), backhaul -> region (the backhaul's capacity and
latency), and cell -> MEC server (the cell's shared capacity again, the server's own
latency instead of the technology's latency to the internet). A flow's path is the
vehicle's radio, its current access network and the infrastructure from there to its
destination (networkx shortest path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from fleetsim.hardware.specs import TechnologySpec

UP, DOWN = 0, 1


@dataclass(frozen=True)
class Access:
    """One access network: a cell or a depot's WiFi."""

    index: int
    name: str
    node: str
    technology: TechnologySpec


@dataclass(frozen=True)
class Hop:
    """A shared resource pair on a path: resource ids per direction, delay, jitter, loss."""

    resource: tuple[int, int]
    latency_s: float
    jitter_s: float
    loss: float


class Topology:
    """The infrastructure graph, its shared resources and the paths from each access network."""

    def __init__(self, graph: nx.DiGraph, accesses: list[Access], capacity: list[float],
                 mec_nodes: list[str] | None = None):
        self.graph = graph
        self.accesses = accesses
        self.mec_nodes = mec_nodes or []  # "mec:NAME" nodes, in scenario order
        self.capacity = capacity  # per resource id, bytes/s (inf: unlimited)
        self._paths: dict[tuple[int, str], list[Hop]] = {}

    @classmethod
    def build(cls, network, technologies: dict[str, TechnologySpec], vehicles: list[tuple[str, list[str]]]):
        """From a scenario's ``network`` section; ``vehicles`` lists (vehicle name, access names it
        may attach to)."""
        graph = nx.DiGraph()
        capacity: list[float] = []

        def resources(up: float | None, down: float | None) -> tuple[int, int]:
            capacity.extend([math.inf if up is None else up, math.inf if down is None else down])
            return len(capacity) - 2, len(capacity) - 1

        for region in network.regions:
            graph.add_node(f"region:{region}", kind="region")
        for b in network.backhauls:
            graph.add_node(f"backhaul:{b.name}", kind="backhaul")
            graph.add_edge(f"backhaul:{b.name}", f"region:{b.region}",
                           hop=Hop(resources(b.uplink_capacity, b.downlink_capacity), b.latency, 0.0, 0.0))
        accesses = []
        shared: dict[str, tuple[int, int]] = {}  # each access network's capacity resources
        for kind, items in (("cell", network.cells), ("depot", network.depots)):
            for item in items:
                tech = technologies[item.technology]
                node = f"{kind}:{item.name}"
                up = (item.uplink_capacity if item.uplink_capacity is not None
                      else tech.cell_uplink_capacity.value)
                down = (item.downlink_capacity if item.downlink_capacity is not None
                        else tech.cell_downlink_capacity.value)
                graph.add_node(node, kind=kind, technology=tech.id)
                shared[item.name] = resources(up, down)
                graph.add_edge(node, f"backhaul:{item.backhaul}",
                               hop=Hop(shared[item.name], tech.latency.value, tech.jitter.value,
                                       tech.loss_rate.value))
                accesses.append(Access(len(accesses), item.name, node, tech))
        by_name = {a.name: a for a in accesses}
        mec_nodes = []
        for server in network.mec:
            node = f"mec:{server.name}"
            graph.add_node(node, kind="mec")
            mec_nodes.append(node)
            for cell in server.cells:
                tech = by_name[cell].technology
                graph.add_edge(by_name[cell].node, node, hop=Hop(shared[cell], server.latency,
                                                                 tech.jitter.value, tech.loss_rate.value))
        for vehicle, names in vehicles:
            graph.add_node(f"vehicle:{vehicle}", kind="vehicle")
            for name in names:
                graph.add_edge(f"vehicle:{vehicle}", by_name[name].node, kind="radio")
        return cls(graph, accesses, capacity, mec_nodes)

    def path(self, access: int, destination: str) -> list[Hop] | None:
        """Shared hops from access network ``access`` to node ``destination`` (``region:NAME`` or
        ``mec:NAME``); None where there is no path (a MEC server beside other cells)."""
        key = (access, destination)
        if key not in self._paths:
            try:
                nodes = nx.shortest_path(self.graph, self.accesses[access].node, destination)
            except nx.NetworkXNoPath:
                self._paths[key] = None
            else:
                self._paths[key] = [self.graph.edges[a, b]["hop"]
                                    for a, b in zip(nodes, nodes[1:], strict=False)]
        return self._paths[key]

