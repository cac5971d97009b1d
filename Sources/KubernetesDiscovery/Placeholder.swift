// Kubernetes EndpointSlice discovery.
