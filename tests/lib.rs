//! System tests of the Petrel workspace; see the `[[test]]` targets.
