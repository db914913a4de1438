//! The lab test harness (placeholder).
