//! Integration tests of the sampler: golden decoding of captured ring-buffer bytes, and real
//! recordings of programs compiled by the tests.

mod decode_golden;
mod programs;
mod recording;
