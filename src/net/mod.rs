//! Networking
