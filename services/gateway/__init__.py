"""The channels' HTTP/JSON gateway: gRPC-JSON transcoding driven by the protos'
``google.api.http`` annotations, the OpenAPI document made from them, rate limits per
channel and per person, and the web filing page."""
