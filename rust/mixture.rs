//! Data-mixture inference counting (issue 6): the engine replaying a given merge list.
