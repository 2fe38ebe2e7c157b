//! Placeholder until the transcoding core lands.
mod binding;
pub use binding::HttpBinding;
