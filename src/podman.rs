//! podman
