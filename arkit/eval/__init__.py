"""arkit.eval"""
