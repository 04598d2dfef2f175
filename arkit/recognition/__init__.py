"""arkit.recognition"""
