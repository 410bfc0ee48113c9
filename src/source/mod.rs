//! Inputs: recognizing a file ([`input`]), the bbolt pages ([`bolt`]), etcd's
//! MVCC layer on top ([`mvcc`]), records left in free pages ([`free_pages`]),
//! a survey for `info` ([`survey`]) and a running etcd read through its API
//! ([`live`]), with what its history read holds back ([`live::held`]).
pub mod bolt;
pub mod free_pages;
pub mod input;
pub mod live;
pub mod mvcc;
pub mod survey;
