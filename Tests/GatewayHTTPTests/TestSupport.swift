// Tests for GatewayHTTP.
