// The version of this package, one constant for both tools (`xskd --version`,
// `xskd-gen --version`), the metrics' `xskd_build_info` and the stats. Raised with each
// release; scripts/install refuses a tree whose git tag (when it has one) says otherwise.

/// The version of xskd and its libraries.
public enum PackageVersion {
    /// Semantic version of this source tree.
    public static let current = "0.7.0"
}
