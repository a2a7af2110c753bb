pub mod ci_steps;
