"""An API gateway that verifies tokenmint access tokens locally and forwards the verified user
to upstream services as headers."""
