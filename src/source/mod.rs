//! Inputs: recognizing a file ([`input`]), the bbolt pages ([`bolt`]), etcd's
//! MVCC layer on top ([`mvcc`]), records left in free pages ([`free_pages`])
//! and a survey for `info` ([`survey`]).
pub mod bolt;
pub mod free_pages;
pub mod input;
pub mod mvcc;
pub mod survey;
