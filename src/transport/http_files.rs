//! Static files over plain HTTP (being written).
