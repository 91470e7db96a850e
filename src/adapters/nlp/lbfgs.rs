//! L-BFGS (Nocedal & Wright, algorithm 7.4) with a backtracking Armijo line search: enough for
//! the router's smooth, strictly convex objective. Written here because the crates that offer it
//! (argmin and friends) bring a framework for one 60-line loop.

/// Minimises `f` (which writes its gradient into the second argument and returns its value)
/// from `x`, for at most `max_iterations` steps or until the gradient is tiny.
pub fn minimise(f: impl Fn(&[f64], &mut [f64]) -> f64, mut x: Vec<f64>, max_iterations: usize, progress: &mut dyn FnMut(&str)) -> Vec<f64> {
    const MEMORY: usize = 10;
    let n = x.len();
    let mut grad = vec![0.0; n];
    let mut value = f(&x, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = std::collections::VecDeque::new();
    let (mut trial, mut trial_grad) = (vec![0.0; n], vec![0.0; n]);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let initial_norm = dot(&grad, &grad).sqrt().max(1e-300);
    for iteration in 0..max_iterations {
        let grad_norm = dot(&grad, &grad).sqrt();
        // scikit-learn's lbfgs stops at a projected gradient of 1e-4; relative is safer across C.
        if grad_norm <= 1e-5 * initial_norm || grad_norm < 1e-8 {
            break;
        }
        // Two-loop recursion: direction = −H·grad.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y).max(1e-300);
            q.iter_mut().for_each(|qi| *qi *= gamma);
        } else {
            q.iter_mut().for_each(|qi| *qi /= grad_norm);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut slope = -dot(&grad, &q);
        if slope >= 0.0 {
            // Not a descent direction (curvature lost): restart from steepest descent.
            history.clear();
            q = grad.iter().map(|g| g / grad_norm).collect();
            slope = -dot(&grad, &q);
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            trial.iter_mut().zip(&x).zip(&q).for_each(|((t, xi), qi)| *t = xi - step * qi);
            let trial_value = f(&trial, &mut trial_grad);
            if trial_value <= value + 1e-4 * step * slope {
                let s: Vec<f64> = trial.iter().zip(&x).map(|(a, b)| a - b).collect();
                let y: Vec<f64> = trial_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 {
                    if history.len() == MEMORY {
                        history.pop_front();
                    }
                    history.push_back((s, y, 1.0 / sy));
                }
                std::mem::swap(&mut x, &mut trial);
                std::mem::swap(&mut grad, &mut trial_grad);
                let improvement = value - trial_value;
                value = trial_value;
                accepted = improvement > 1e-10 * value.abs().max(1.0);
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
        if iteration % 50 == 49 {
            progress(&format!("iteration {}: objective {value:.4}", iteration + 1));
        }
    }
    x
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_minimum_of_a_badly_scaled_quadratic_and_rosenbrock() {
        let quadratic = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (x[0] - 3.0);
            g[1] = 200.0 * (x[1] + 1.0);
            (x[0] - 3.0).powi(2) + 100.0 * (x[1] + 1.0).powi(2)
        };
        let x = super::minimise(quadratic, vec![0.0, 0.0], 100, &mut |_| {});
        assert!((x[0] - 3.0).abs() < 1e-4 && (x[1] + 1.0).abs() < 1e-4, "{x:?}");
        let rosenbrock = |x: &[f64], g: &mut [f64]| {
            g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
            g[1] = 200.0 * (x[1] - x[0] * x[0]);
            (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
        };
        let x = super::minimise(rosenbrock, vec![-1.2, 1.0], 500, &mut |_| {});
        assert!((x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3, "{x:?}");
    }
}
