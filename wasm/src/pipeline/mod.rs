//! Placeholder: the tract pipeline (being written).
