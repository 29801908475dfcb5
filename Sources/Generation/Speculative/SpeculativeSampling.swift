/// The lossless accept/correct rule of speculative sampling, as pure functions over probability vectors.
///
/// A token x drawn from the proposal q is kept with probability min(1, p(x) / q(x)); otherwise the
/// replacement is drawn from the residual norm(max(p − q, 0)). The kept-or-replaced token is then
/// distributed exactly as p (Leviathan et al. 2023; Chen et al. 2023). Both vectors must be the
/// *processed* distributions (temperature, top-p, ... already applied).
public enum SpeculativeSampling {
  /// min(1, p(x) / q(x)); 1 when q(x) is 0 (a token the proposal never draws).
  public static func acceptanceProbability(of token: Int, target p: [Double], proposal q: [Double]) -> Double {
    guard q[token] > 0 else { return 1 }
    return min(1, p[token] / q[token])
  }

  /// norm(max(p − q, 0)); p itself when the residual has no mass (then p = q).
  public static func residual(target p: [Double], proposal q: [Double]) -> [Double] {
    var r = [Double](repeating: 0, count: p.count)
    var total = 0.0
    for i in p.indices where p[i] > q[i] {
      r[i] = p[i] - q[i]
      total += r[i]
    }
    guard total > 0 else { return p }
    return r.map { $0 / total }
  }

  /// The outcome of checking one proposed token.
  public enum Verdict: Equatable, Sendable {
    /// The proposal is kept.
    case accepted
    /// The proposal is rejected and replaced by this token.
    case corrected(Int)
  }

  /// Checks `token` (drawn from `proposal`) against `target`: accept with min(1, p/q), else draw the
  /// correction from the residual.
  public static func verify(
    _ token: Int, target p: [Double], proposal q: [Double], using choices: RandomChoices
  ) -> Verdict {
    verify(token, target: p, proposal: q, correction: .residual, using: choices)
  }

  /// ``verify(_:target:proposal:using:)`` with a choice of correction rule (the non-residual rule exists
  /// only as the negative control of the tests).
  static func verify(
    _ token: Int, target p: [Double], proposal q: [Double], correction: CorrectionRule, using choices: RandomChoices
  ) -> Verdict {
    if choices.bernoulli(acceptanceProbability(of: token, target: p, proposal: q)) { return .accepted }
    switch correction {
    case .residual: return .corrected(choices.draw(from: residual(target: p, proposal: q)))
    case .resampleTarget: return .corrected(choices.draw(from: p))
    }
  }

  /// The exact law of the emitted token when proposals are drawn from `law` but checked as if drawn from
  /// `proposal` (the two are equal in a correct hierarchy; `law` defaults to `proposal`).
  static func outputDistribution(
    target p: [Double], proposal q: [Double], law: [Double]? = nil, correction: CorrectionRule = .residual
  ) -> [Double] {
    let r = law ?? q
    let replacement = correction == .residual ? residual(target: p, proposal: q) : p
    var out = [Double](repeating: 0, count: p.count)
    for x in r.indices where r[x] > 0 {
      let a = acceptanceProbability(of: x, target: p, proposal: q)
      out[x] += r[x] * a
      for y in out.indices { out[y] += r[x] * (1 - a) * replacement[y] }
    }
    return out
  }
}

/// How a rejected proposal is replaced.
enum CorrectionRule: Sendable {
  /// A draw from norm(max(p − q, 0)): lossless.
  case residual
  /// A draw from p itself, as TriForce's released code does at its middle level: not lossless
  /// (kept only as the negative control of the distribution tests).
  case resampleTarget
}
