#!/usr/bin/python3
"""hallmark_client.py - send listing images to hallmarkd and print the verdicts.

Uses python3-zmq from Debian.  Protocol: docs/PROTOCOL.md (version 1).

  tools/hallmark_client.py --connect tcp://127.0.0.1:5555 \\
      --seller s1 --brand Acme image1.jpg image2.png ...

Each image is sent as one request (a DEALER socket, all requests in flight at
once); every verdict is printed as one JSON line, in the order it arrives.
The exit status is 0 when every request got a verdict, 1 otherwise.

Control commands (a second mode):

  tools/hallmark_client.py --control tcp://127.0.0.1:5559 \\
      --cmd '{"cmd":"add","ref":"r1","bank":"counterfeit","brand":"Acme"}' image.jpg
"""
import argparse
import json
import os
import sys
import uuid

import zmq


def send_images(args):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.connect)
    pending = {}
    for path in args.images:
        with open(path, "rb") as f:
            data = f.read()
        rid = str(uuid.uuid4())
        header = {
            "v": 1,
            "request_id": rid,
            "listing_id": args.listing or os.path.basename(path),
            "image_id": os.path.basename(path)[:127],
            "seller_id": args.seller,
            "brand": args.brand,
        }
        if args.top_k:
            header["options"] = {"top_k": args.top_k}
        sock.send_multipart([json.dumps(header).encode(), data])
        pending[rid] = path
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while pending:
        if not poller.poll(args.timeout * 1000):
            print(f"timeout: {len(pending)} request(s) without a verdict", file=sys.stderr)
            return 1
        frames = sock.recv_multipart()
        verdict = json.loads(frames[-1])
        path = pending.pop(verdict.get("request_id"), None)
        verdict["file"] = path
        print(json.dumps(verdict, sort_keys=True), flush=True)
    return 0


def send_control(args):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if args.curve_server_key:
        pub, sec = zmq.curve_keypair() if not args.curve_client_secret else (
            zmq.curve_public(args.curve_client_secret.encode()), args.curve_client_secret.encode())
        sock.curve_serverkey = args.curve_server_key.encode()
        sock.curve_publickey = pub
        sock.curve_secretkey = sec
    sock.connect(args.control)
    frames = [args.cmd.encode()]
    for path in args.images[:1]:
        with open(path, "rb") as f:
            frames.append(f.read())
    sock.send_multipart(frames)
    if not sock.poll(args.timeout * 1000):
        print("timeout: no reply", file=sys.stderr)
        return 1
    reply = json.loads(sock.recv_multipart()[-1])
    print(json.dumps(reply, sort_keys=True))
    return 0 if reply.get("ok") else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connect", default="tcp://127.0.0.1:5555", help="ingest endpoint")
    p.add_argument("--control", help="control endpoint (control mode)")
    p.add_argument("--cmd", help="control command JSON (control mode)")
    p.add_argument("--curve-server-key", help="control server public key (Z85)")
    p.add_argument("--curve-client-secret", help="this client's secret key (Z85)")
    p.add_argument("--seller", default="", help="seller id")
    p.add_argument("--brand", default="", help="the brand the listing claims")
    p.add_argument("--listing", default="", help="listing id (default: the file name)")
    p.add_argument("--top-k", type=int, default=0, help="list the k nearest references")
    p.add_argument("--timeout", type=int, default=10, help="seconds to wait for replies")
    p.add_argument("images", nargs="*")
    args = p.parse_args()
    if args.control:
        if not args.cmd:
            p.error("--control needs --cmd")
        return send_control(args)
    if not args.images:
        p.error("no images")
    return send_images(args)


if __name__ == "__main__":
    sys.exit(main())
