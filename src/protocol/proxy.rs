//! HTTP CONNECT proxies (being written).
