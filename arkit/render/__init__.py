"""Rendering: moderngl (headless EGL) with a software fallback, and compositing over camera frames."""
