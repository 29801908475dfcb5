import Foundation

/// A minimal hand-written SVG line chart: axes with ticks, one polyline per series, and a legend.
public enum SVGPlot {
  /// One named curve.
  public struct Series: Sendable {
    /// Legend text.
    public var name: String
    /// (x, y) points in drawing order; non-finite points are skipped.
    public var points: [(Double, Double)]
    /// A CSS colour.
    public var color: String

    /// A series.
    public init(name: String, points: [(Double, Double)], color: String) {
      self.name = name
      self.points = points
      self.color = color
    }
  }

  /// The SVG document of a line chart of `series`.
  public static func lineChart(
    title: String, xLabel: String, yLabel: String, series: [Series], width: Double = 640, height: Double = 400
  ) -> String {
    let drawn = series.map { s in
      Series(name: s.name, points: s.points.filter { $0.0.isFinite && $0.1.isFinite }, color: s.color)
    }
    let all = drawn.flatMap(\.points)
    var (xMin, xMax) = (all.map(\.0).min() ?? 0, all.map(\.0).max() ?? 1)
    var (yMin, yMax) = (all.map(\.1).min() ?? 0, all.map(\.1).max() ?? 1)
    if xMax <= xMin { (xMin, xMax) = (xMin - 0.5, xMax + 0.5) }
    if yMax <= yMin { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
    let pad = (yMax - yMin) * 0.05
    (yMin, yMax) = (yMin - pad, yMax + pad)
    let (left, right, top, bottom) = (70.0, width - 20, 40.0, height - 50)
    func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (right - left) }
    func py(_ y: Double) -> Double { bottom - (y - yMin) / (yMax - yMin) * (bottom - top) }
    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    var out: [String] = [
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
        + "viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\" font-size=\"12\">",
      "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"white\"/>",
      "<text x=\"\(f(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>",
      "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(right))\" y2=\"\(f(bottom))\" stroke=\"black\"/>",
      "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"black\"/>",
    ]
    for i in 0...4 {
      let x = xMin + (xMax - xMin) * Double(i) / 4
      let y = yMin + (yMax - yMin) * Double(i) / 4
      out.append(
        "<line x1=\"\(f(px(x)))\" y1=\"\(f(bottom))\" x2=\"\(f(px(x)))\" y2=\"\(f(bottom + 5))\" stroke=\"black\"/>")
      out.append(
        "<text x=\"\(f(px(x)))\" y=\"\(f(bottom + 18))\" text-anchor=\"middle\">\(label(x))</text>")
      out.append(
        "<line x1=\"\(f(left - 5))\" y1=\"\(f(py(y)))\" x2=\"\(f(right))\" y2=\"\(f(py(y)))\" stroke=\"#ddd\"/>")
      out.append(
        "<text x=\"\(f(left - 8))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(label(y))</text>")
    }
    out.append(
      "<text x=\"\(f((left + right) / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(escape(xLabel))</text>")
    out.append(
      "<text x=\"16\" y=\"\(f((top + bottom) / 2))\" text-anchor=\"middle\" "
        + "transform=\"rotate(-90 16 \(f((top + bottom) / 2)))\">\(escape(yLabel))</text>")
    for (i, s) in drawn.enumerated() {
      let color = escape(s.color)
      if s.points.count == 1, let p = s.points.first {
        out.append("<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"3\" fill=\"\(color)\"/>")
      } else if !s.points.isEmpty {
        let coordinates = s.points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
        out.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(coordinates)\"/>")
      }
      let ly = top + 8 + Double(i) * 18
      out.append(
        "<line x1=\"\(f(right - 120))\" y1=\"\(f(ly))\" x2=\"\(f(right - 100))\" y2=\"\(f(ly))\" "
          + "stroke=\"\(color)\" stroke-width=\"2\"/>")
      out.append("<text x=\"\(f(right - 95))\" y=\"\(f(ly + 4))\">\(escape(s.name))</text>")
    }
    out.append("</svg>")
    return out.joined(separator: "\n") + "\n"
  }

  /// Escapes text for XML content and attribute values.
  public static func escape(_ text: String) -> String {
    var out = ""
    for c in text {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&apos;"
      default: out.append(c)
      }
    }
    return out
  }

  private static func label(_ v: Double) -> String {
    let a = abs(v)
    if a != 0 && (a >= 1e5 || a < 1e-2) { return String(format: "%.1e", v) }
    return a >= 100 ? String(format: "%.0f", v) : String(format: "%.2f", v)
  }
}
