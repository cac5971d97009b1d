"""Envoy's side of deploy/agents, checked with Envoy's own message definitions (PyPI xds-protos).

Usage: deploy_check_envoy.py BOOTSTRAP GATEWAY_YAML EDS_DIR

The bootstrap must parse as envoy.config.bootstrap.v3.Bootstrap and every file the gateway wrote into EDS_DIR as
envoy.service.discovery.v3.DiscoveryResponse holding ClusterLoadAssignments; unknown fields, unknown enum values and
`@type`s that name no Envoy message are errors, as they are for Envoy. It also checks what parsing cannot: the
bootstrap names a node, its admin listener is on loopback, and every EDS path it reads is a file the gateway writes
into the folder the gateway's configuration names.
"""
import json
import os
import sys

import yaml
from google.protobuf import json_format

# Importing a message module registers its descriptors, so `@type` inside Any fields resolves.
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.service.discovery.v3 import discovery_pb2


def fail(message):
    print(f"deploy-check: envoy: {message}", file=sys.stderr)
    sys.exit(1)


def parse(message, document, source):
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        fail(f"{source} is not a valid {message.DESCRIPTOR.full_name}: {error}")
    return message


def main(bootstrap_path, gateway_path, eds_dir):
    with open(bootstrap_path) as f:
        bootstrap = parse(bootstrap_pb2.Bootstrap(), yaml.safe_load(f), bootstrap_path)
    if not bootstrap.node.id or not bootstrap.node.cluster:
        fail(f"{bootstrap_path} names no node id and cluster: Envoy refuses EDS subscriptions without them")
    admin = bootstrap.admin.address.socket_address.address
    if admin and admin not in ("127.0.0.1", "::1"):
        fail(f"{bootstrap_path}: the admin listener is on {admin}, not loopback")

    with open(gateway_path) as f:
        gateway = yaml.safe_load(f)
    out_dir = gateway["outputs"]["envoy"]["dir"]
    eds_files = []
    for cluster in bootstrap.static_resources.clusters:
        if cluster.type != cluster.EDS:
            continue
        source = cluster.eds_cluster_config.eds_config.path_config_source
        path = source.path
        if os.path.dirname(path) != out_dir or source.watched_directory.path != out_dir:
            fail(f"cluster {cluster.name} reads {path} (watching {source.watched_directory.path}), "
                 f"but the gateway writes into {out_dir}")
        expected = cluster.name.replace("/", "_") + ".json"
        if os.path.basename(path) != expected:
            fail(f"cluster {cluster.name} reads {os.path.basename(path)}; the gateway writes {expected}")
        eds_files.append(expected)
    if not eds_files:
        fail(f"{bootstrap_path} has no EDS cluster")

    written = sorted(n for n in os.listdir(eds_dir) if not n.startswith("."))
    for name in eds_files:
        if name not in written:
            fail(f"the gateway wrote no {name} into {eds_dir} (it wrote {written})")
    localities = 0
    for name in written:
        with open(os.path.join(eds_dir, name)) as f:
            response = parse(discovery_pb2.DiscoveryResponse(), json.load(f), name)
        if not response.resources:
            fail(f"{name} holds no resource")
        for resource in response.resources:
            assignment = endpoint_pb2.ClusterLoadAssignment()
            if not resource.Unpack(assignment):
                fail(f"{name} holds a {resource.type_url}, not a ClusterLoadAssignment")
            for locality in assignment.endpoints:
                if locality.load_balancing_weight.value < 1:
                    fail(f"{name}: locality {locality.locality.zone} has weight 0, which Envoy refuses")
                localities += 1
    print(f"deploy-check: envoy: {bootstrap_path} parses as a v3 Bootstrap with node {bootstrap.node.id}; "
          f"{len(written)} EDS file(s) the gateway wrote parse as DiscoveryResponse/ClusterLoadAssignment "
          f"({localities} localities)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
