"""arkit.planes"""
