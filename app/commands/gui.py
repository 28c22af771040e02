"""`mespot gui`: the lab window: live video, ECG, heart rate and HRS, model scores, alerts, recording and
replay (Qt is imported only when this command runs)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from app.commands.record import add_config_arguments


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="the lab GUI: live video, ECG, HR/HRS, scores, alerts, recording")
    parser.add_argument("session", type=Path, nargs="?", help="open this session for replay")
    add_config_arguments(parser)
    parser.add_argument("--mock", choices=("synthetic", "session", "video+ecg"),
                        help="use the mock devices fed from this source (default: the remembered choice)")
    parser.add_argument("--real", action="store_true", help="use the lab's real devices (from --config)")
    parser.add_argument("--video", type=Path, help="video file or frame folder (--mock video+ecg)")
    parser.add_argument("--ecg", type=Path, help="ECG file (--mock video+ecg)")
    parser.add_argument("--speed", choices=("1", "max"), help="replay speed")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path,
                       help="CMCL-Net ONNX model or spotter file (default: the remembered one, or the demo)")
    which.add_argument("--spotter", choices=("flow",), help="flow: the training-free spotter")
    parser.add_argument("--start", action="store_true", help="start acquisition at once")
    return parser


def run(args: argparse.Namespace) -> int:
    from PySide6 import QtWidgets

    from app.gui.window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["mespot"])
    window = MainWindow()
    choice = window.device_choice()
    if args.config is not None or args.overrides:
        choice = replace(choice, config_path=str(args.config or ""), overrides=tuple(args.overrides))
    if args.real:
        choice = replace(choice, kind="real")
    if args.mock:
        choice = replace(choice, kind="mock", source=args.mock)
    if args.session is not None:
        choice = replace(choice, kind="mock", source="session", session=str(args.session))
    if args.video is not None or args.ecg is not None:
        choice = replace(choice, video=str(args.video or ""), ecg=str(args.ecg or ""))
    if args.speed:
        choice = replace(choice, speed=args.speed)
    window.set_device_choice(choice)
    if args.model is not None:
        window.spotter_combo.setCurrentIndex(window.spotter_combo.findData("model"))
        window.model_edit.setText(str(args.model))
        window.controller.set_model_path(args.model)
    if args.spotter is not None:
        window.spotter_combo.setCurrentIndex(window.spotter_combo.findData(args.spotter))
    window.show()
    if args.start:
        window.start_acquisition()
    elif args.session is not None:
        window.open_session(args.session)
    try:
        code = app.exec()
    finally:
        window.close()  # finishes a recording if exec() ended another way
        window.deleteLater()  # widgets must go before the interpreter does (PySide6 + pyqtgraph)
        app.processEvents()
    return int(code)
