//! Supertoken learning (issue 5): two-stage SuperBPE curriculum over the trainer.
