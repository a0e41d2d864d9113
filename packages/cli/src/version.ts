/** The CLI's version (`tributary --version`, and `tributary_build_info{version}` on /metrics). */
export const VERSION = '0.1.0';
