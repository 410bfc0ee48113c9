//! Inputs: recognizing a file ([`input`]), the bbolt pages ([`bolt`]), etcd's
//! MVCC layer on top ([`mvcc`]) and a survey for `info` ([`survey`]).
pub mod bolt;
pub mod input;
pub mod mvcc;
pub mod survey;
