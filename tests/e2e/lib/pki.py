"""A throw-away certificate authority for TLS tests, made with the openssl
command line (Debian's openssl package), so no key is committed and nothing
expires in the tree.

    with Pki() as pki:
        cert, key = pki.server("localhost", "IP:127.0.0.1,DNS:localhost")
        pki.ca                           # the CA certificate, for ca_file
"""
import os
import shutil
import subprocess
import tempfile

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


class Pki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="icx-pki-")
        self._openssl("req", "-x509", *EC, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                      "-subj", "/CN=icx test CA")
        self.ca = os.path.join(self.dir, "ca.pem")

    def _openssl(self, *args):
        subprocess.run(["openssl"] + list(args), cwd=self.dir, check=True, capture_output=True)

    def server(self, name, san):
        """(certificate, key) paths for subjectAltName san, signed by the CA."""
        self._openssl("req", *EC, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        with open(os.path.join(self.dir, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                      "-CAcreateserial", "-days", "2", "-out", name + ".pem", "-extfile", name + ".ext")
        return os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
